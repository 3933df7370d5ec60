"""ir-readiness: Pulumi program. Wiring only: settings -> components -> stack outputs."""

import pulumi

from components.readiness import IncidentResponseReadiness, IncidentResponseReadinessArgs
from components.settings import Settings

settings = Settings.from_config(pulumi.Config("ir"))
readiness = IncidentResponseReadiness("ir", IncidentResponseReadinessArgs(settings=settings))

pulumi.export("homeRegion", settings.home_region)
pulumi.export("kmsKeyArns", readiness.kms_key_arns)
pulumi.export("manifests", readiness.manifests)
