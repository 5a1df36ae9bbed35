from html.parser import HTMLParser

from errand.evals import Checks, Grade, TaskResult

ROWS = [["Lentil soup", "40", "4"], ["Pancakes", "20", "2"], ["Green curry", "35", "3"]]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self.rows: list[list[str]] = []
        self.external = False
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th", "title"):
            self._in = tag
            if tag != "title" and self.rows:
                self.rows[-1].append("")
        if tag == "script" or (tag in ("link", "img") and attrs):
            self.external = (
                self.external or tag == "script" or any(k in ("href", "src") for k, _ in attrs)
            )

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in in ("td", "th") and self.rows:
            self.rows[-1][-1] += data.strip()


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    html = result.read("recipes", "index.html")
    if not checks.expect(html is not None, "index.html was written"):
        return checks.grade()
    page = _Page()
    page.feed(html or "")
    checks.expect(page.title.strip() == "Recipes", "the page is titled Recipes")
    body = [r for r in page.rows if r]
    checks.expect(len(body) == 4, "the table has a header row and three recipes")
    checks.expect(body[1:] == ROWS, "the rows are the recipes, in order")
    checks.expect(not page.external, "the page has no scripts or external files")
    return checks.grade()
