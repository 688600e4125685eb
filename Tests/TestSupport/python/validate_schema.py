"""Validates YAML files against a JSON Schema with the `jsonschema` package, for SchemaTests.swift.

Checks the schema itself first (Draft 7, the draft it declares). Prints one JSON line per file:
{"path": ..., "errors": [messages]}; an empty list means the file is valid.

Usage: python3 validate_schema.py SCHEMA.json FILE.yml...
"""
import json
import sys

import jsonschema
import yaml

schema = json.load(open(sys.argv[1]))
jsonschema.Draft7Validator.check_schema(schema)
validator = jsonschema.Draft7Validator(schema)
for path in sys.argv[2:]:
    document = yaml.safe_load(open(path))
    errors = sorted(f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(document))
    print(json.dumps({"path": path, "errors": errors}))
