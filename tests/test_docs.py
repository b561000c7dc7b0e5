"""docs/method.md is the reference a fresh clone can follow: every quirk tag in the code
is in its tables and every tag in its tables is in the code, and nothing cites the
project-internal SPEC."""
import os
import re
import subprocess

from tests.helpers import REPO

TAG = re.compile(r'\b((?:QUIRK|DEVIATION):[a-z0-9-]+)')


def _source_files():
    listing = subprocess.run(['git', '-C', REPO, 'ls-files', '*.py', '*.md'], capture_output=True, text=True)
    files = listing.stdout.split() if listing.returncode == 0 else []
    return [os.path.join(REPO, name) for name in files if name != 'docs/method.md'] or [
        os.path.join(folder, name) for folder, _, names in os.walk(REPO) for name in names
        if name.endswith('.py') and '/.' not in folder]


def _read(path):
    with open(path, encoding='utf-8') as handle:
        return handle.read()


def test_every_quirk_tag_is_documented_and_every_documented_tag_is_in_the_code():
    document = _read(os.path.join(REPO, 'docs', 'method.md'))
    table = {match for line in document.splitlines() if line.startswith('| ') for match in TAG.findall(line)}
    in_code = {tag for path in _source_files() for tag in TAG.findall(_read(path))}
    assert len(table) >= 15
    assert in_code - table == set(), 'tags in the code but not in the tables of docs/method.md'
    assert table - in_code == set(), 'tags in docs/method.md that no code carries'


def test_nothing_cites_the_internal_spec():
    citing = [path for path in _source_files() if re.search(r'\bSPEC (section|\d)', _read(path))]
    assert citing == []


def test_the_backbone_tables_list_every_registered_backbone():
    from models.registry import BACKBONES
    method = _read(os.path.join(REPO, 'docs', 'method.md'))
    readme = _read(os.path.join(REPO, 'README.md'))
    for name in BACKBONES:
        assert re.search(rf'^\| `{name}`', method, re.MULTILINE), f'docs/method.md section 8c lacks {name}'
        assert re.search(rf'^\| `{name}`', readme, re.MULTILINE), f'README.md "Backbones" lacks {name}'
