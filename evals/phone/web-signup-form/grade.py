from urllib.parse import parse_qs

from errand.evals import Checks, Grade, TaskResult


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    posts = result.posted("/submit")
    checks.expect(len(posts) == 1, "the form was submitted exactly once")
    fields = parse_qs(posts[-1].body) if posts else {}
    checks.expect(fields.get("name") == ["Ada Lovelace"], "the name is Ada Lovelace")
    checks.expect(fields.get("email") == ["ada@example.org"], "the email is ada@example.org")
    checks.expect(fields.get("topic") == ["events"], "only the Events topic is ticked")
    return checks.grade()
