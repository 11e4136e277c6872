"""Reports: the simulation's report.html (simulation), and the one look every artbandit report
shares (htmlreport: self-contained pages and tables; plotstyle: charts, colours, number format)."""
