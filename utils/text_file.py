"""Lines of a UTF-8 text file (protocols, score files), with a byte-order mark dropped and a
byte that is not UTF-8 named by file, line and column instead of a bare UnicodeDecodeError."""
import codecs
from typing import Iterator, Tuple, Type


def text_lines(path: str, error: Type[Exception] = ValueError) -> Iterator[Tuple[int, str]]:
    """(line number from 1, line without its line break) for each line of `path`; raises
    `error` naming the line when it is not UTF-8 (a Latin-1 file, say)."""
    with open(path, 'rb') as handle:
        for number, raw in enumerate(handle, 1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                line = raw.decode('utf-8')
            except UnicodeDecodeError as failure:
                raise error(f"{path}:{number}: byte 0x{raw[failure.start]:02x} at column {failure.start + 1} "
                            f"is not UTF-8; the file must be UTF-8 (or ASCII) text (convert it, e.g. "
                            f"`iconv -f latin1 -t utf-8`)") from None
            yield number, line.rstrip('\r\n')
