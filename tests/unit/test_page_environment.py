"""The pages' Jinja environment reads `row.field` on a plain dict as the key, and keeps Jinja's answer
for everything else: a dict's own methods, objects' attributes, missing keys."""
from types import SimpleNamespace

from shared.web.session import TEMPLATES


def render(source: str, **context) -> str:
    return TEMPLATES.env.from_string(source).render(**context)


def test_a_dict_row_field_reads_its_key():
    assert render("{{ y.name }}", y={"name": "Giulia"}) == "Giulia"


def test_a_dict_key_named_like_a_dict_method_does_not_hide_the_method():
    # given a page whose rows are a dict with an "items" key, the loop still calls the method
    assert render("{% for k, v in d.items() %}{{ k }}{% endfor %}", d={"items": [1], "total": 1}) == "itemstotal"
    assert render("{{ d['items'] }}", d={"items": 3}) == "3"


def test_a_missing_key_is_undefined_as_in_jinja():
    assert render("{{ y.missing or '—' }}", y={"name": "x"}) == "—"


def test_objects_and_dict_subclasses_keep_attribute_lookup():
    assert render("{{ o.name }}", o=SimpleNamespace(name="a")) == "a"

    class Row(dict):
        name = "attribute"
    assert render("{{ r.name }}", r=Row(name="key")) == "attribute"  # Jinja's rule: the attribute first
