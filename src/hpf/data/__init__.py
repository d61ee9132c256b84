"""Data governance (B1 data standard, B3 data catalog): the data element registry of every stored
column (``registry.py``, data in ``elements/``), the catalog served as data and as a page
(``catalog.py``, ``api.py``, ``pages.py``), and the export of a center's data in the tables and
field names of the basic data standard JGJ/T 320-2014 (``export.py``, ``hpf data export``).
"""
