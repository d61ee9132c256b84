"""Fund operation, forecasts and planning of a center (issue 17 items 3–6, decision 0038).

- ``series``: the center's monthly history, set-based, through the business packages' published
  reads (collections, withdrawals by reason, loan disbursements and repayments);
- ``forecast``: 12 months ahead per series, ETS or SARIMA chosen by back-testing, the back-test
  error kept with the forecast; a series with too little history says so;
- ``liquidity``: the daily indicators (bank balances against the expected outflows of 30 and 90
  days, 个贷率, 使用率, 逾期率, large movements), alerts against the policy's thresholds and who
  acknowledged them;
- ``plan``: the annual 归集使用计划 drafted from the forecasts, its assumptions versioned, xlsx and PDF;
- ``whatif``: a policy parameter changed in a copy of the database, the simulator run forward;
- ``warning``: early-warning rules for borrowers and their measure on a simulated center.
"""
