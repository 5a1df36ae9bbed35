from errand.evals import Checks, Grade, TaskResult


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    tests = result.verified["tests"]
    checks.expect(tests.exit_code == 0, "python3 test_stats.py passes after the task")
    start = result.starting_files("project")["test_stats.py"]
    checks.expect(result.files("project").get("test_stats.py") == start, "the tests are unchanged")
    return checks.grade()
