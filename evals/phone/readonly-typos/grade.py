from errand.evals import Checks, Grade, TaskResult

FIXED = """# Welcome guide

Please receive your badge at the front desk.
The kitchen is on the second floor.
"""


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    checks.expect(result.unchanged("docs"), "the read-only docs folder is unchanged")
    draft = result.read("drafts", "guide.md")
    checks.expect(draft is not None, "drafts/guide.md was written")
    checks.expect(
        (draft or "").strip() == FIXED.strip(), "the draft fixes all three typos and nothing else"
    )
    return checks.grade()
