from errand.evals import Checks, Grade, TaskResult

EXPECTED = ["apples", "bread", "coffee", "eggs", "milk", "rice"]


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    text = result.read("notes", "shopping.txt")
    checks.expect(text is not None, "shopping.txt was written")
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    checks.expect(lines == EXPECTED, f"shopping.txt holds exactly {EXPECTED}")
    starting = result.starting_files("notes")
    now = result.files("notes")
    checks.expect(all(now.get(k) == v for k, v in starting.items()), "the lists are kept")
    return checks.grade()
