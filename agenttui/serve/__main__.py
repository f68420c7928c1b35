from agenttui.serve.command import main

raise SystemExit(main())
