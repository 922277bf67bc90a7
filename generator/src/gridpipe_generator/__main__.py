from gridpipe_generator.cli import main

main()
