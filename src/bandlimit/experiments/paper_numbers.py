"""The paper's numbers (all from PAPER.md, except the authors' spreadsheet, named as such) and
the three verdicts a finding can get. Every report that puts the paper beside ours reads them here."""

from __future__ import annotations

__all__ = [
    "AUTHORS_FIFTYWORDS_ENERGY",
    "NOT_REPRODUCED",
    "NOT_TESTABLE",
    "PAPER",
    "PAPER_TABLE3",
    "REPRODUCED",
    "Verdict",
]

REPRODUCED, NOT_REPRODUCED, NOT_TESTABLE = "reproduced", "not reproduced", "not testable at this scale"
Verdict = tuple[str, str, str]  # (claim, verdict, evidence)

PAPER_TABLE3 = {1.0: (64.40, 118), 0.9: (63.52, 25), 0.5: (59.34, 21), 0.1: (40.00, 17)}
"""PAPER.md, Table 3 (FiftyWords, FCN): energy preserved -> (max test accuracy %, average GPU MB)."""

# PAPER.md, Table 1 (test accuracy % by compression rate, the same rate in every layer).
_TABLE1 = {
    "CIFAR-10 ResNet-18": (93.69, 93.42, 93.24, 92.89, 92.61, 92.32),
    "CIFAR-100 DenseNet-121": (75.30, 75.28, 74.25, 73.66, 72.26, 71.18),
}
PAPER = {
    ("FiftyWords FCN", "plain"): 0.6440,
    **{(task, "plain" if i == 0 else f"rate {i / 10:g}"): acc / 100 for task, row in _TABLE1.items() for i, acc in
       enumerate(row)},
}  # fmt: skip
"""The paper's numbers that this report can put beside ours: (task, variant) -> test accuracy,
all from PAPER.md: FiftyWords 64.40 (Table 3, energy 100%), CIFAR Table 1 at rates 0.1-0.5."""

AUTHORS_FIFTYWORDS_ENERGY = (
    (100, 64.40, 304.8),
    (99, 61.98, 167.8),
    (98, 60.66, 157.6),
    (90, 63.52, 144.2),
    (50, 59.34, 138.3),
    (10, 40.00, 134.0),
)
"""(energy preserved %, max test accuracy %, max memory MB) of the FCN on FiftyWords from the
authors' results spreadsheet (github.com/adam-dziedzic/bandlimited-cnns @ c4b5505,
results/compare-50-words-preserved-energy-accuracy-mem-usage-1-All.xlsx, sheets "test" and
"memory-results"), the data behind the paper's Table 3 as far as can be told here."""
