"""Where a result came from: the source commit, and fingerprints of files and configurations."""
import hashlib
import json
import subprocess
from typing import Optional


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def config_sha256(config: dict) -> str:
    """A fingerprint of a configuration: the SHA-256 of its JSON with sorted keys."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode('utf-8')).hexdigest()


def git_state(source_root: str) -> dict:
    """{'commit': HEAD or None, 'dirty': whether tracked files differ from HEAD (None
    outside a checkout or without git)}."""
    def git(*arguments: str) -> Optional[str]:
        try:
            return subprocess.run(['git', '-C', source_root, *arguments], capture_output=True, check=True,
                                  timeout=60, text=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None
    commit = git('rev-parse', 'HEAD')
    status = git('status', '--porcelain', '--untracked-files=no') if commit else None
    return {'commit': commit, 'dirty': None if status is None else bool(status)}
