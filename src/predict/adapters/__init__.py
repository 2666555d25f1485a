"""Bring-your-own-data adapters: map a source's own export onto the contract tables.

An adapter only reshapes; it never filters. Rows that cannot fit the contract are kept
(with the offending value empty) so that validation reports and counts them.
"""
