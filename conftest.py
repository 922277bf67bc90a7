pytest_plugins = ["gridpipe_stack.testing"]
