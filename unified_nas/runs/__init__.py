"""Stage 10, runs: one recipe on one backend, from checks to the stored report.

Options as data, devices, framework threads, the run context a backend gets,
the run lifecycle (owners, SIGTERM, resume by replay), the backend registry
and the runner. The backend contract (``unified_nas.backends.base``) belongs
to this stage: it is the half of the run that backends implement.
"""
