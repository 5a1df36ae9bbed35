from errand.evals import Checks, Grade, TaskResult


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    summary = result.read("out", "dentist.md") or ""
    checks.expect(bool(summary), "out/dentist.md was written")
    checks.expect("2026-03-14" in summary, "the summary gives the date 2026-03-14")
    checks.expect("09:30" in summary or "9:30" in summary, "the summary gives the time 09:30")
    checks.expect("Varga" in summary, "the summary names Dr. Varga")
    checks.expect("555 0199" in summary, "the summary gives the dentist's number")
    checks.expect(result.unchanged("notes"), "the notes are unchanged")
    return checks.grade()
