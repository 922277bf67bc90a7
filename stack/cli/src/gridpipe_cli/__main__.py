from gridpipe_cli.main import main

main()
