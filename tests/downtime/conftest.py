from tests.patients.test_pages import wards  # noqa: F401 - the nurses' wards
