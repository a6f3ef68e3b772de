from downtime_station.cli import main

raise SystemExit(main())
