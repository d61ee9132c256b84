"""The housing-loan application (catalog item ``LN-APPLY``): eligibility and the amount allowed
under the center's loan policy (``rules.py``), and the item handler of the application engine
(``handler.py``): facts, sheet, review, the contract and the disbursement on approval."""
