from errand.evals import Checks, Grade, TaskResult

KEPT = ["map.png", "menu (1).pdf", "menu.pdf", "tickets.pdf"]


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    before = result.starting_files("downloads")
    after = result.files("downloads")
    checks.expect("menu (1).pdf" in after, "the changed menu (1).pdf is kept")
    checks.expect(sorted(after) == KEPT, f"exactly {KEPT} remain")
    checks.expect(all(after[k] == before[k] for k in after if k in before), "contents unchanged")
    return checks.grade()
