pytest_plugins = ["gridpipe_stack.testing", "gridpipe_jobs.testing"]
