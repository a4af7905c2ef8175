"""Every page template is a whole, labelled document (WCAG 2.1: 2.4.2 page titled, 3.1.1
language of page, 1.3.1 a main landmark; 1.1.1 images have text alternatives).

The browser journeys run axe-core on the pages they visit; this reads every template the
app can render, so a page no journey reaches (the admin pages, a new page) cannot drop
the language, the title or the main landmark by not extending ``base.html``."""

from __future__ import annotations

import re
from pathlib import Path

import caseops

PACKAGE = Path(caseops.__file__).parent
EXTENDS_BASE = re.compile(r"""\{%-?\s*extends\s+["']base\.html["']""")
IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
SVG = re.compile(r"<svg\b[^>]*>", re.IGNORECASE)
NAMED_SVG = re.compile(r'aria-hidden="true"|role="img"[^>]*aria-label=|aria-label=[^>]*role="img"')


def our_templates(app) -> dict[str, str]:
    """Template name -> source, for the templates in the caseops package."""
    loader = app.jinja_env.loader
    found = {}
    for name in app.jinja_env.list_templates(extensions=["html"]):
        source, filename, _ = loader.get_source(app.jinja_env, name)
        if filename and PACKAGE in Path(filename).parents:
            found[name] = source
    return found


def is_partial(name: str) -> bool:
    return Path(name).name.startswith("_")


def whole_document_problems(source: str) -> list[str]:
    problems = []
    if not re.search(r"<html\s+lang=\"[a-z]{2}", source):
        problems.append('no <html lang="..">')
    if not re.search(r"<title>\s*\S", source) and "{% block title %}" not in source:
        problems.append("no <title>")
    if not re.search(r"<main\b", source):
        problems.append("no <main> landmark")
    return problems


def test_every_page_extends_base_or_is_a_whole_labelled_document(app):
    templates = our_templates(app)
    assert "base.html" in templates and "consents/consents.html" in templates
    assert not whole_document_problems(templates["base.html"])
    problems = {
        name: whole_document_problems(source)
        for name, source in templates.items()
        if not is_partial(name) and name != "base.html" and not EXTENDS_BASE.search(source)
    }
    assert not {name: found for name, found in problems.items() if found}, problems


TITLE_BLOCK = re.compile(r"\{%-?\s*block title\s*-?%\}(.*?)\{%-?\s*endblock", re.S)


def title_problems(source: str) -> list[str]:
    """A page's title is text (WCAG 2.4.2): markup in the title block is a block left
    open, whose content lands in <title> where nobody sees it."""
    return [
        f"markup in the title block: {body.strip()[:60]!r}"
        for body in TITLE_BLOCK.findall(source)
        if "<" in body
    ]


def test_every_title_block_holds_text_only(app):
    problems = {
        name: found
        for name, source in our_templates(app).items()
        if (found := title_problems(source))
    }
    assert not problems, problems


def test_the_title_check_sees_a_block_left_open():
    assert title_problems("{% block title %}Home{% endblock %}") == []
    assert title_problems('{% block title %}Home<section class="card">x</section>{% endblock %}')


def test_every_image_has_a_text_alternative(app):
    missing = [
        f"{name}: {tag}"
        for name, source in our_templates(app).items()
        for tag in IMG.findall(source)
        if not re.search(r"\balt=", tag)
    ] + [
        f"{name}: {tag}"
        for name, source in our_templates(app).items()
        for tag in SVG.findall(source)
        if not NAMED_SVG.search(tag)
    ]
    assert not missing, "\n".join(missing)


def test_the_check_sees_a_page_without_language_title_or_main():
    assert whole_document_problems("<!doctype html><html><body><p>hi</p></body></html>") == [
        'no <html lang="..">',
        "no <title>",
        "no <main> landmark",
    ]
    assert not EXTENDS_BASE.search('{% extends "other.html" %}')
    assert EXTENDS_BASE.search('{% extends "base.html" %}')
