"""Test DAGs: the DAGS_FOLDER bundle used by dag.test() runs in the test suite."""
