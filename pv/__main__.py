from pv.cli import main

raise SystemExit(main())
