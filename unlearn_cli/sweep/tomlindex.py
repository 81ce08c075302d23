"""Where each key and array element of a TOML document is: its line number, by key path.

`tomllib` gives values without positions, so a grid error could not say which line it is
about. This scanner reads the text of a document that `tomllib` has already accepted and
records the line of every key, table header and array element under its path — a tuple of
keys (str) and array indices (int), e.g. ("methods", 2, "params", "alpha", 0). Arrays of
tables count their `[[...]]` headers, so ("settings", 1) is the second `[[settings]]`.

It only tracks the shape of the document (tables, arrays, inline tables, strings, comments);
values themselves are skipped. It assumes valid TOML: run it after `tomllib.loads` succeeds.
"""

from __future__ import annotations

Path = tuple[str | int, ...]

_BARE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[Path, int] = {}
        self.table: Path = ()
        self.array_tables: dict[Path, int] = {}  # [[a.b]] path (with indices) -> current index

    # --- low level ---------------------------------------------------------------------
    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def advance(self, count: int = 1) -> None:
        for _ in range(count):
            if self.pos < len(self.text):
                if self.text[self.pos] == "\n":
                    self.line += 1
                self.pos += 1

    def skip_blanks(self, newlines: bool) -> None:
        """Spaces and tabs; with `newlines`, also line ends and comments."""
        while self.pos < len(self.text):
            ch = self.peek()
            if ch in " \t\r":
                self.advance()
            elif ch == "#" and newlines:
                while self.pos < len(self.text) and self.peek() != "\n":
                    self.advance()
            elif ch == "\n" and newlines:
                self.advance()
            else:
                return

    def skip_rest_of_line(self) -> None:
        while self.pos < len(self.text) and self.peek() != "\n":
            self.advance()

    def record(self, path: Path) -> None:
        self.lines.setdefault(path, self.line)

    # --- strings and keys --------------------------------------------------------------
    def read_string(self) -> str:
        quote = self.peek()
        triple = self.text.startswith(quote * 3, self.pos)
        if triple:
            self.advance(3)
            start = self.pos
            while self.pos < len(self.text) and not self.text.startswith(quote * 3, self.pos):
                if quote == '"' and self.peek() == "\\":
                    self.advance()
                self.advance()
            value = self.text[start:self.pos]
            self.advance(3)
            while self.peek() == quote:  # up to two quotes may end a multi-line string
                self.advance()
            return value
        self.advance()
        chars: list[str] = []
        while self.pos < len(self.text) and self.peek() != quote:
            if quote == '"' and self.peek() == "\\":
                self.advance()
                chars.append(_ESCAPES.get(self.peek(), self.peek()))
                self.advance()
                continue
            chars.append(self.peek())
            self.advance()
        self.advance()
        return "".join(chars)

    def read_key(self) -> list[str]:
        """A possibly dotted key; stops before '=' or ']'."""
        parts: list[str] = []
        while True:
            self.skip_blanks(newlines=False)
            if self.peek() in ('"', "'"):
                parts.append(self.read_string())
            else:
                start = self.pos
                while self.peek() in _BARE and self.peek() != "":
                    self.advance()
                parts.append(self.text[start:self.pos])
            self.skip_blanks(newlines=False)
            if self.peek() == ".":
                self.advance()
                continue
            return parts

    # --- tables --------------------------------------------------------------------------
    def indexed(self, keys: list[str], *, last_is_new_element: bool = False) -> Path:
        """The path of a header's keys, with the current index of every array of tables on
        the way inserted after its key."""
        path: Path = ()
        for position, key in enumerate(keys):
            path = (*path, key)
            last = position == len(keys) - 1
            if last and last_is_new_element:
                index = self.array_tables.get(path, -1) + 1
                self.array_tables[path] = index
                self.record(path)
                path = (*path, index)
            elif path in self.array_tables:
                path = (*path, self.array_tables[path])
        return path

    def header(self) -> None:
        double = self.text.startswith("[[", self.pos)
        self.advance(2 if double else 1)
        keys = self.read_key()
        self.advance(2 if double else 1)
        self.table = self.indexed(keys, last_is_new_element=double)
        self.record(self.table)
        self.skip_rest_of_line()

    # --- values --------------------------------------------------------------------------
    def value(self, path: Path) -> None:
        self.skip_blanks(newlines=False)
        ch = self.peek()
        if ch == "[":
            self.advance()
            index = 0
            while True:
                self.skip_blanks(newlines=True)
                if self.peek() in ("]", ""):
                    self.advance()
                    return
                self.record((*path, index))
                self.value((*path, index))
                self.skip_blanks(newlines=True)
                if self.peek() == ",":
                    self.advance()
                    index += 1
        elif ch == "{":
            self.advance()
            while True:
                self.skip_blanks(newlines=True)
                if self.peek() in ("}", ""):
                    self.advance()
                    return
                key = self.read_key()
                inner = (*path, *key)
                self.record(inner)
                self.advance()  # '='
                self.value(inner)
                self.skip_blanks(newlines=True)
                if self.peek() == ",":
                    self.advance()
        elif ch in ('"', "'"):
            self.read_string()
        else:
            while self.pos < len(self.text) and self.peek() not in ",]}\n#":
                self.advance()

    def document(self) -> dict[Path, int]:
        while True:
            self.skip_blanks(newlines=True)
            if self.pos >= len(self.text):
                return self.lines
            if self.peek() == "[":
                self.header()
                continue
            key = self.read_key()
            path = (*self.table, *key)
            self.record(path)
            self.advance()  # '='
            self.value(path)
            self.skip_rest_of_line()


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "\\": "\\"}


def line_index(text: str) -> dict[Path, int]:
    """Every key path of `text` (valid TOML) and the 1-based line where it appears first."""
    return _Scanner(text).document()


def line_of(lines: dict[Path, int], path: Path) -> int | None:
    """The line of `path`, or of its nearest ancestor that has one."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None
