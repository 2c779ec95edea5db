"""Operations: the heartbeat report, actor liveness, the systemd watchdog, process samples,
logging set-up, ``status`` and the soak report.
"""
