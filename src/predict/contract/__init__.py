"""The data contract (stage ``validate``): tables, columns and rules; reading, typing and
validating a folder; the data dictionary; adapters that map other exports onto the contract.

May import: the core (config, io, progress). Modules: spec (tables, targets, outputs),
tables (read and type), schemas (pandera rules), validation, dictionary, online_retail.
"""
