from gridpipe_operator.cli import main

main()
