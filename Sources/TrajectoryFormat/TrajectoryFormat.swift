// TrajectoryFormat: see README.md
