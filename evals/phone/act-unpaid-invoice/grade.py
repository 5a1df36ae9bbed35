from errand.evals import Checks, Grade, TaskResult


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    before = result.starting_files("invoices")
    after = result.files("invoices")
    checks.expect(
        after.get("to-pay/water-may.txt") == before["water-may.txt"],
        "the unpaid water invoice is in to-pay/",
    )
    checks.expect("water-may.txt" not in after, "it was moved, not copied")
    checks.expect(
        after.get("energy-april.txt") == before["energy-april.txt"]
        and after.get("internet-may.txt") == before["internet-may.txt"],
        "the paid invoices stay where they were",
    )
    return checks.grade()
