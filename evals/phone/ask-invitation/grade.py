import re

from errand.evals import Checks, Grade, TaskResult


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    checks.expect(len(result.questions()) >= 1, "the agent asked the user a question")
    html = result.read("party", "invitation.html") or ""
    checks.expect(bool(html), "invitation.html was written")
    background = re.findall(r"background(?:-color)?\s*:\s*([^;\"'}]+)", html, re.I)
    greens = ("green", "#0", "#2e7d32", "#008000", "#4caf50", "rgb(0, 128, 0)")
    checks.expect(
        any("green" in b.lower() or b.strip().lower() in greens for b in background),
        "the background is the green the user chose",
    )
    checks.expect(
        "Mia" in html and "14 June" in html and "12 Elm Street" in html,
        "the invitation gives who, when and where",
    )
    return checks.grade()
