"""The governing resolution as the report quotes it: symbol, date, title, paragraphs 10, 12, 13.

Read by the report's sections (``domain.report.sections``) and the title block.
"""

from __future__ import annotations

from collections.abc import Mapping

AGENDA_TITLE = (
    "Consideration of effective measures to enhance the protection, security and safety "
    "of diplomatic and consular missions and representatives"
)
RESOLUTION = "61/31"
RESOLUTION_DATE = "4 December 2006"

#: Paragraphs 10, 12 and 13 of resolution 61/31, verbatim (footnote markers left out).
QUOTED_PARAGRAPHS: Mapping[int, tuple[str, ...]] = {
    10: (
        "10. Requests:",
        "(a) All States to report to the Secretary-General as promptly as possible serious "
        "violations of the protection, security and safety of diplomatic and consular "
        "missions and representatives as well as missions and representatives with "
        "diplomatic status to international intergovernmental organizations;",
        "(b) The State in which the violation took place \u2014 and, to the extent possible, "
        "the State where the alleged offender is present \u2014 to report to the "
        "Secretary-General as promptly as possible on measures taken to bring the offender "
        "to justice and eventually to communicate, in accordance with its laws, the final "
        "outcome of the proceedings against the offender, and to report on measures adopted "
        "with a view to preventing a repetition of such violations;",
        "(c) The States so reporting to consider using or taking into account the "
        "guidelines prepared by the Secretary-General;",
    ),
    12: (
        "12. Also requests the Secretary-General to invite States, in the circular note "
        "referred to in paragraph 11 (a) above, to inform him of their views with respect "
        "to any measures needed or already taken to enhance the protection, security and "
        "safety of diplomatic and consular missions and representatives as well as missions "
        "and representatives with diplomatic status to international intergovernmental "
        "organizations;",
    ),
    13: (
        "13. Further requests the Secretary-General to submit to the General Assembly at "
        "its sixty-third session a report containing:",
        "(a) Information on the state of ratification of, and accessions to, the "
        "instruments referred to in paragraph 8 above;",
        "(b) A summary of the reports received and views expressed pursuant to paragraphs "
        "10 and 12 above;",
    ),
}
