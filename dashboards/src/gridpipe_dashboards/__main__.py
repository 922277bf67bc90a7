from gridpipe_dashboards.generate import main

main()
