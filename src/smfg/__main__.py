from smfg.cli import main

raise SystemExit(main())
