from errand.evals import Checks, Grade, TaskResult

RENAMED = {
    "scan 3 March 2025 electricity.pdf": "2025-03-03 electricity.pdf",
    "scan 17 January 2025 water.pdf": "2025-01-17 water.pdf",
    "scan 9 December 2024 school letter.pdf": "2024-12-09 school letter.pdf",
    "README.txt": "README.txt",
}


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    before = result.starting_files("scans")
    after = result.files("scans")
    checks.expect(sorted(after) == sorted(RENAMED.values()), "exactly the renamed files remain")
    for old, new in RENAMED.items():
        checks.expect(after.get(new) == before[old], f"{new} holds what {old} held")
    return checks.grade()
