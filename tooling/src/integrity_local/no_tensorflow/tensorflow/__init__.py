"""Stands in for TensorFlow on the topology's default Celery worker, whose image does not install it.

Put first on that worker's PYTHONPATH (integrity_local.topology): a task of the default
queue that imports TensorFlow fails there as it would on the deployment's default worker,
instead of passing because this machine's one virtualenv has it.
"""

raise ImportError(
    "No module named 'tensorflow': this is the default queue's worker, which does not install it "
    "(requirements/common.txt); run the task on the 'gpu' queue"
)
