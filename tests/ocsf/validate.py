#!/usr/bin/env python3
"""Validates trailhose's OCSF output against the OCSF schema definitions.

The schema source (the ocsf/ocsf-schema repository layout, e.g. tests/data/ocsf-schema-1.1.0)
is compiled with ocsf-lib's compiler (PyPI `ocsf-lib`), turned into one JSON Schema per class
with PyPI `ocsf-json-schema` (the generator behind the OCSF server's JSON Schema export), and
every event is checked with PyPI `jsonschema` (draft 2020-12): required attributes, types,
enum values (class_uid, type_uid, activity_id, ...), and no attribute the class does not define
for the event's profiles.

Usage: validate.py SCHEMA_DIR FILE.ndjson...   (prints one line per invalid event; exit 1 if any)
"""

import json
import subprocess
import sys
from pathlib import Path

from jsonschema import Draft202012Validator
from ocsf_json_schema import OcsfJsonSchema
from referencing import Registry, Resource


def strip_nulls(v):
    # The compiler writes every absent property as null ("max_len": null); the generator tests
    # for presence, so nulls must go.
    if isinstance(v, dict):
        return {k: strip_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [strip_nulls(x) for x in v]
    return v


def compile_schema(schema_dir: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "ocsf.compile", str(schema_dir)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    schema = strip_nulls(json.loads(out))
    # The compiler names an object attribute's type by the object ("actor"); the JSON Schema
    # generator reads the OCSF server's form, type "object_t" with "object_type".
    for group in ("classes", "objects"):
        for item in schema[group].values():
            for attr in item.get("attributes", {}).values():
                t = attr.get("type")
                if t not in schema["types"] and t in schema["objects"]:
                    attr["type"], attr["object_type"] = "object_t", t
    # ocsf-lib 0.10 gives an object the `at_least_one` constraint of the object it extends
    # (network_endpoint gets _entity's [name, uid]); the schema source is the authority, so
    # each object keeps the constraints its own file declares.
    for path in (schema_dir / "objects").glob("*.json"):
        source = json.loads(path.read_text())
        name = source.get("name")
        if name in schema["objects"] and "constraints" in source:
            schema["objects"][name]["constraints"] = source["constraints"]
    return schema


def main() -> int:
    schema_dir = Path(sys.argv[1])
    schema = compile_schema(schema_dir)
    ocsf = OcsfJsonSchema(schema)
    by_uid = {c["uid"]: name for name, c in schema["classes"].items()}

    def retrieve(uri: str) -> Resource:
        return Resource.from_contents(ocsf.get_schema_from_uri(uri))

    registry = Registry(retrieve=retrieve)
    validators = {}
    checked = invalid = 0
    classes = {}
    for file in sys.argv[2:]:
        with open(file, encoding="utf-8") as lines:
            for n, line in enumerate(lines, 1):
                event = json.loads(line)
                uid = event.get("class_uid")
                profiles = tuple(sorted(event.get("metadata", {}).get("profiles", [])))
                key = (uid, profiles)
                if key not in validators:
                    if uid not in by_uid:
                        print(f"{file}:{n}: class_uid {uid!r} is not an OCSF class")
                        invalid += 1
                        continue
                    class_schema = ocsf.get_class_schema(by_uid[uid], list(profiles))
                    validators[key] = Draft202012Validator(class_schema, registry=registry)
                errors = sorted(validators[key].iter_errors(event), key=lambda e: list(e.path))
                checked += 1
                classes[uid] = classes.get(uid, 0) + 1
                if errors:
                    invalid += 1
                    for e in errors[:5]:
                        where = "/".join(str(p) for p in e.absolute_path) or "(event)"
                        print(f"{file}:{n}: {where}: {e.message[-300:]}")
    print(f"checked {checked} events ({', '.join(f'{c}: {k}' for c, k in sorted(classes.items()))}); invalid {invalid}")
    return 1 if invalid or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
