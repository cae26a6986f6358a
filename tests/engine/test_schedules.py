from django_q.models import Schedule

from messaging.engine import schedules


def test_migrate_leaves_the_engine_schedules_in_place(db):
    rows = dict(Schedule.objects.filter(name__in=schedules.SCHEDULES).values_list("name", "func"))
    assert rows == {name: func for name, (func, _) in schedules.SCHEDULES.items()}
    assert schedules.ensure_schedules() == 0  # idempotent


def test_the_scheduled_functions_exist():
    from importlib import import_module

    for func, _ in schedules.SCHEDULES.values():
        module, _, name = func.rpartition(".")
        assert callable(getattr(import_module(module), name))
