"""JSON Schemas (draft 2020-12) for submission records; a package so the files ship as package data."""
