"""JSON Schemas (draft 2020-12) for the inputs and records the harness reads and writes; a package so
the files ship as package data. :mod:`harness.core.schema` validates against them."""
