"""jsonschema-rs and jsonschema agree on every field of every shipped credential type.

``validate_subject`` takes jsonschema-rs's "valid" and asks jsonschema only about a value
jsonschema-rs refuses (issue 13). These tests show the two agree over the sample subjects, an
invalid corpus built from each field's own bounds, and generated values; and that a value
jsonschema-rs cannot take at all (a lone surrogate) is still answered, by jsonschema.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from issuers.credential_types import FieldSpec, TypeRegistry
from issuers.subjects import validate_subject
from issuers.validation import normalise_value, schema_problems
from tests.issuers.samples import SAMPLE_SUBJECTS, SAMPLE_TODAY
from trust.errors import FieldError

REGISTRY = TypeRegistry.load()
FIELDS = [(ctype.code, spec) for ctype in REGISTRY for spec in ctype.fields]
FIELD_IDS = [f"{code}.{spec.name}" for code, spec in FIELDS]


def reference_valid(spec: FieldSpec, value: Any) -> bool:
    return not list(spec.validator.iter_errors(value))


def assert_agree(spec: FieldSpec, value: Any) -> bool:
    expected = reference_valid(spec, value)
    assert spec.fast_validator.is_valid(value) is expected, (spec.name, value, expected)
    return expected


def invalid_corpus(spec: FieldSpec) -> list[Any]:
    """Values each field's schema refuses: other JSON types, lengths past each bound (in
    Chinese, where a character is 3 bytes), values off the pattern or the enum."""
    schema = spec.schema
    values: list[Any] = [None, True, 7, 1.5, ["a"], {"a": "b"}]
    if "maxLength" in schema:
        values += ["码" * (schema["maxLength"] + 1), "x" * (schema["maxLength"] + 1)]
    if schema.get("minLength", 0) > 0:
        values += ["码" * (schema["minLength"] - 1)]
    if "pattern" in schema:
        values += ["", "？", "中文名称", "A" * 20, "0" * 30]
    if "enum" in schema:
        values += [f"{schema['enum'][0]}x", "其他"]
    return values


def test_every_shipped_field_is_checked() -> None:
    assert len(FIELDS) >= 50
    assert len({code for code, _ in FIELDS}) == len(SAMPLE_SUBJECTS)


@pytest.mark.parametrize(("code", "spec"), FIELDS, ids=FIELD_IDS)
def test_they_agree_on_the_sample_subjects(code: str, spec: FieldSpec) -> None:
    sample = SAMPLE_SUBJECTS[code]
    if spec.name in sample:
        assert assert_agree(spec, sample[spec.name]) is True


@pytest.mark.parametrize(("code", "spec"), FIELDS, ids=FIELD_IDS)
def test_they_agree_on_values_the_field_refuses(code: str, spec: FieldSpec) -> None:
    corpus = invalid_corpus(spec)
    refused = [value for value in corpus if not assert_agree(spec, value)]
    # Every field refuses other JSON types; a free-text field may take the odd string.
    assert len(refused) >= 5, (code, spec.name, refused)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
# Text near each field's bounds, Chinese and ASCII, spaces and full-width forms.
TEXT = st.text(
    alphabet=st.sampled_from("0123456789ABCDEFXK-*()（）一中杭州市码鿿 \u3000Ａ１x"), max_size=60
)


def near_the_field(spec: FieldSpec) -> st.SearchStrategy[Any]:
    pattern = spec.schema.get("pattern")
    if isinstance(pattern, str):
        return st.from_regex(re.compile(pattern), fullmatch=True) | TEXT
    enum = spec.schema.get("enum")
    if isinstance(enum, list):
        return st.sampled_from(enum) | TEXT
    return TEXT


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_they_agree_on_generated_values(data: st.DataObject) -> None:
    _, spec = data.draw(st.sampled_from(FIELDS))
    value = data.draw(near_the_field(spec) | JSON_VALUES)
    try:
        normalised = normalise_value(spec.name, value)
    except FieldError:  # a control character: refused before any schema is asked
        return
    assert_agree(spec, normalised)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_pattern_field_agrees_on_its_own_matches(data: st.DataObject) -> None:
    patterned = [(code, spec) for code, spec in FIELDS if "pattern" in spec.schema]
    _, spec = data.draw(st.sampled_from(patterned))
    value = data.draw(st.from_regex(re.compile(spec.schema["pattern"]), fullmatch=True))
    assert_agree(spec, normalise_value(spec.name, value))


def test_a_value_jsonschema_rs_cannot_take_is_answered_by_jsonschema() -> None:
    ctype = REGISTRY.get("business-licence")
    subject = dict(SAMPLE_SUBJECTS["business-licence"], address="杭州\ud800")
    spec = next(f for f in ctype.fields if f.name == "address")
    with pytest.raises(ValueError, match="surrogate"):  # what validate_subject catches
        spec.fast_validator.is_valid("杭州\ud800")
    out = validate_subject(ctype, subject, today=SAMPLE_TODAY)
    assert out["address"] == "杭州\ud800"


def test_an_invalid_value_gets_jsonschema_s_words() -> None:
    ctype = REGISTRY.get("food-business-permit")
    subject = dict(SAMPLE_SUBJECTS["food-business-permit"], licence_no="JY2330")
    with pytest.raises(FieldError) as caught:
        validate_subject(ctype, subject, today=SAMPLE_TODAY)
    spec = next(f for f in ctype.fields if f.name == "licence_no")
    words = schema_problems(spec.name, spec.schema, spec.validator.iter_errors("JY2330"))
    assert caught.value.errors == words
    assert [p["code"] for p in words] == ["schema_pattern"]
