pytest_plugins = ["gridpipe_stack.testing", "gridpipe_stack.kube.testing", "jobtesting"]
