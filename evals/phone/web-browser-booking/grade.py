from urllib.parse import parse_qs

from errand.evals import Checks, Grade, TaskResult


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    posts = result.posted("/book")
    checks.expect(len(posts) == 1, "the booking form was submitted exactly once")
    fields = {k: v[0] for k, v in parse_qs(posts[-1].body).items()} if posts else {}
    checks.expect(fields.get("name") == "Ada Lovelace", "the booking is for Ada Lovelace")
    checks.expect(fields.get("guests") == "4", "for 4 guests")
    checks.expect(fields.get("date", "").endswith("-06-21"), "on 21 June")
    checks.expect(fields.get("time") == "19:30", "at 19:30")
    return checks.grade()
