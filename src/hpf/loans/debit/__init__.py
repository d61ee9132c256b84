"""The month's bank debits of borrowers' cards (委托扣款, BDC105), sent before collection."""
