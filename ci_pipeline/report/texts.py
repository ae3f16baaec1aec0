"""Every word of the report, in bokmål (nb, the default) and English (en), side by side.

One template renders both languages: it asks `Texts(lang)` for a key and gets the sentence in that
language, with `{placeholders}` filled in. Each key holds the pair (nb, en), so a sentence cannot exist
in one language only. Statuses, comparisons and trends are written out in plain language here; the
report never shows the mart's ids (`on_track`, `each_district`) or raw p-values. An unknown key is an
error at build time (a KeyError naming it), never a blank on the page.
"""

from __future__ import annotations

from typing import Any

from ci_pipeline.report.formatting import LANGUAGES

LANGUAGE_NAMES = {"nb": "Norsk (bokmål)", "en": "English"}

TEXTS: dict[str, tuple[str, str]] = {
    # --- the frame of every page
    "site.name": ("Felles måling for barn og unge i Oslo", "Shared measurement for children and young people in Oslo"),
    "nav.label": ("Hovedmeny", "Main menu"),
    "nav.skip": ("Hopp til innholdet", "Skip to content"),
    "nav.overview": ("Oversikt", "Overview"),
    "nav.districts": ("Bydelsprofiler", "District profiles"),
    "nav.about": ("Om tallene", "About the figures"),
    "nav.switch": ("Read in English", "Les på norsk"),
    "footer.version": (("Rapportversjon {version}. Tallgrunnlag: måloppfølging versjon {progress_version}; "
                       "fortellinger versjon {stories_version}."),
                       ("Report version {version}. Figures: goal progress version {progress_version}; stories "
                       "version {stories_version}.")),
    "footer.offline": ("Rapporten er statiske filer som kan åpnes uten nett.",
                       "The report is static files that open without a network."),
    "footer.none": ("ingen", "none"),
    "notice.illustrative": (
        ("Eksempeltall: noen av tallene på denne siden er laget for å vise hvordan rapporten virker. De er ikke "
        "offisiell statistikk og må ikke brukes som det. Slike tall merkes «Eksempeltall», og de kalles aldri "
        "statistisk sikre."),
        ("Illustrative figures: some figures on this page are made up to show how the report works. They are "
        "not official statistics and must not be used as such. They are marked \u201cIllustrative\u201d and are "
        "never called statistically sure.")),
    "badge.illustrative": ("Eksempeltall", "Illustrative"),
    "badge.example": ("Eksempel", "Example"),
    "badge.estimate": ("Anslag", "Estimate"),
    # --- provenance: where a figure comes from
    "provenance.recorded": ("Ekte tall, hentet fra kilden", "Real figures, retrieved from the source"),
    "provenance.reconstructed": ("Ekte tall, gjenskapt fra kildens publiserte tabell",
                                 "Real figures, rebuilt from the source's published table"),
    "provenance.illustrative": ("Eksempeltall, ikke ekte tall", "Illustrative figures, not real"),
    "provenance.unknown": ("Opphav ikke oppgitt", "Origin not stated"),
    # --- status against the target
    "status.on_track": ("I rute", "On track"),
    "status.off_track": ("Ikke i rute", "Off track"),
    "status.target_met_at_baseline": ("Målet var nådd ved start", "Target met from the start"),
    "status.target_no_longer_met": ("Var nådd ved start, ikke nå", "Met at the start, not now"),
    "status.insufficient_data": ("For lite data", "Not enough data"),
    "status.no_target": ("Ikke eget mål her", "No target here"),
    "status.unknown": ("Ikke vurdert", "Not assessed"),
    "status_help.on_track": (
        "siste tall har nådd målet, eller ligger minst like godt an som en rett linje fra utgangspunktet til målet",
        ("the latest figure meets the target, or is at least as good as a straight line from the starting point "
        "to the target")),
    "status_help.off_track": ("siste tall ligger bak den rette linjen fra utgangspunktet til målet",
                              "the latest figure is behind the straight line from the starting point to the target"),
    "status_help.target_met_at_baseline": (
        ("tallet var allerede så godt som målet da målingen startet (også når målet er å holde et nivå som "
         "allerede er bedre enn sammenligningen); da regnes ingen fremdrift i prosent"),
        ("the figure was already as good as the target at the start (also where the target is to hold a level "
         "already better than the comparison); no progress percentage is then computed")),
    "status_help.target_no_longer_met": (
        ("tallet var så godt som målet da målingen startet, men siste tall har sklidd forbi målet; målet var å "
         "holde nivået"),
        ("the figure was as good as the target at the start, but the latest figure has slipped past it; the "
         "target was to hold that level")),
    "status_help.insufficient_data": (
        "siste tall eller utgangspunktet mangler, er skjult av personvernhensyn, eller spørsmålene er endret",
        "the latest figure or the starting point is missing, hidden for privacy, or the questions changed"),
    "status_help.no_target": (
        "målet gjelder Oslo som helhet eller forskjellene, ikke hver bydel, eller indikatoren er en støtteindikator",
        ("the target is for Oslo as a whole or for the gaps, not for each district, or the indicator is a "
         "supporting one")),
    "status_help.unknown": ("statusen er ikke vurdert i denne versjonen",
                            "the status is not assessed in this version"),
    # --- comparison with a reference area
    "reference.oslo": ("Oslo", "Oslo"),
    "reference.norway": ("Norge", "Norway"),
    "cmp.better": ("Bedre enn {reference}", "Better than {reference}"),
    "cmp.worse": ("Dårligere enn {reference}", "Worse than {reference}"),
    "cmp.no_difference": ("Ingen sikker forskjell fra {reference}", "No clear difference from {reference}"),
    "cmp.not_tested": ("Ikke sammenlignet med {reference}", "Not compared with {reference}"),
    "cmp.illustrative": ("Ikke vurdert mot {reference} (eksempeltall)",
                         "Not assessed against {reference} (illustrative figures)"),
    "cmp_help.better": ("statistisk sikkert bedre", "better, and statistically sure"),
    "cmp_help.worse": ("statistisk sikkert dårligere", "worse, and statistically sure"),
    "cmp_help.no_difference": ("forskjellen kan skyldes tilfeldigheter", "the difference may be chance"),
    "cmp_help.not_tested": ("ikke testet (mangler tall å teste med)", "not tested (no counts to test with)"),
    "cmp_help.illustrative": ("eksempeltall vurderes ikke", "illustrative figures are not assessed"),
    # --- the trend over time
    "trend.improving.sure": ("Bedring, statistisk sikker", "Improving, statistically sure"),
    "trend.improving.unsure": ("Bedring, men ikke statistisk sikker", "Improving, but not statistically sure"),
    "trend.improving.illustrative": ("Bedring i eksempeltallene (ikke vurdert)",
                                     "Improving in the illustrative figures (not assessed)"),
    "trend.worsening.sure": ("Forverring, statistisk sikker", "Worsening, statistically sure"),
    "trend.worsening.unsure": ("Forverring, men ikke statistisk sikker", "Worsening, but not statistically sure"),
    "trend.worsening.illustrative": ("Forverring i eksempeltallene (ikke vurdert)",
                                     "Worsening in the illustrative figures (not assessed)"),
    "trend.unconfirmed": ("Uklar utvikling: kurven og endringen siden start peker hver sin vei",
                          "Unclear: the curve and the change since the start point different ways"),
    "trend.no_change": ("Ingen tydelig endring", "No clear change"),
    "trend.estimates_only": ("Anslag: utviklingen testes ikke", "Estimates: the trend is not tested"),
    "trend.no_variation": ("Ingen variasjon å teste", "No variation to test"),
    "trend_test.quasi_binomial": ("testet som andel over tid, med rom for ekstra variasjon mellom årene",
                                  "tested as a share over time, allowing for extra variation between years"),
    "trend_test.quasi_poisson": ("testet som antall eller rate over tid, med rom for ekstra variasjon mellom årene",
                                 "tested as a count or rate over time, allowing for extra variation between years"),
    "trend_test.wls_known_se": ("testet over rundene i undersøkelsen, med hver rundes usikkerhet",
                                "tested across the survey rounds, with each round's uncertainty"),
    "trend_test.ols": ("testet som en rett linje gjennom tallene", "tested as a straight line through the figures"),
    "trend.too_few_points": ("For få målinger til å si noe sikkert om utviklingen (under fem, eller tre med kjent "
                             "usikkerhet)", "Too few measurements to tell the direction for sure (fewer than five, "
                             "or three with known uncertainty)"),
    "trend.not_tested": ("Utviklingen er ikke vurdert", "The trend is not assessed"),
    # --- missing figures (the source's status symbols in words)
    "missing.suppressed": ("skjult av personvernhensyn", "hidden for privacy"),
    "missing.missing": ("mangler", "missing"),
    "missing.not_computable": ("kan ikke beregnes", "cannot be calculated"),
    "missing.not_yet": ("ikke publisert ennå", "not yet published"),
    "missing.none": ("ingen tall", "no figure"),
    # --- units, as a column of their own
    "unit.percent": ("%", "%"),
    "unit.percentage_points": ("prosentpoeng", "percentage points"),
    "unit.per_1000": ("per 1\u202f000", "per 1,000"),
    "unit.per_100000": ("per 100\u202f000", "per 100,000"),
    "unit.nok": ("kr", "NOK"),
    "unit.persons": ("personer", "people"),
    # --- table headers
    "col.area": ("Område", "Area"),
    "col.district": ("Bydel", "District"),
    "col.indicator": ("Indikator", "Indicator"),
    "col.goal": ("Mål", "Goal"),
    "col.latest": ("Siste tall", "Latest figure"),
    "col.period": ("Periode", "Period"),
    "col.interval": ("95\u00a0% usikkerhetsintervall", "95% interval"),
    "col.baseline": ("Utgangspunkt", "Starting point"),
    "col.target": ("Målverdi", "Target"),
    "col.status": ("Status", "Status"),
    "col.trend": ("Utvikling", "Trend"),
    "col.vs_oslo": ("Mot Oslo", "Against Oslo"),
    "col.vs_norway": ("Mot Norge", "Against Norway"),
    "col.provenance": ("Opphav", "Origin"),
    "col.source": ("Kilde", "Source"),
    "col.updated": ("Oppdatert hos kilden", "Updated at the source"),
    "col.periods": ("Perioder", "Periods"),
    "col.gap": ("Forskjell", "Gap"),
    "col.best": ("Best", "Best"),
    "col.worst": ("Svakest", "Weakest"),
    "col.rank": ("Plass blant bydelene", "Rank among the districts"),
    "col.code": ("Kode", "Code"),
    "col.version": ("Versjon", "Version"),
    "col.unit": ("Enhet", "Unit"),
    "col.status_symbol": ("Symbol", "Symbol"),
    "col.meaning": ("Betydning", "Meaning"),
    # --- the overview page
    "index.title": ("Bydelene og målene", "The districts and the goals"),
    "index.intro": (
        ("Her ser du hvordan Oslos 15 bydeler ligger an mot de felles målene for barn og unge. Tallene kommer "
        "fra offentlig statistikk og fra initiativets egen spørreundersøkelse. Under hvert diagram står kilden, "
        "når tallene ble oppdatert og hva som er målt, og partnerne forteller selv hva som ligger bak kurvene."),
        ("How Oslo's 15 districts stand against the shared goals for children and young people. The figures "
        "come from public statistics and from the initiative's own survey. Every chart names its source, when "
        "the figures were updated and what is measured, and the partners tell what lies behind the curves.")),
    "barometer.title": ("Barometer: bydelene mot målene", "Barometer: the districts against the goals"),
    "barometer.caption": (("Siste tall per bydel for målenes hovedindikatorer, med status mot målet og "
                          "sammenligning med resten av Oslo"),
                          ("Latest figure per district for the goals' headline indicators, with the status against "
                          "the target and the comparison with the rest of Oslo")),
    "barometer.sort_hint": ("Velg en kolonneoverskrift for å sortere bydelene (også med tastaturet).",
                            "Choose a column heading to sort the districts (the keyboard works too)."),
    "barometer.sort_by": ("Sorter etter {column}", "Sort by {column}"),
    "barometer.reference": ("Referanse", "Reference"),
    "barometer.oslo": ("Oslo (hele byen)", "Oslo (the whole city)"),
    "barometer.none": ("Ingen mål har hovedindikatorer på bydelsnivå ennå.",
                       "No goal has headline indicators at district level yet."),
    "legend.title": ("Slik leser du barometeret", "How to read the barometer"),
    "legend.status": ("Status mot målet", "Status against the target"),
    "legend.comparison": ("Sammenligning med resten av Oslo", "Comparison with the rest of Oslo"),
    "legend.no_colour": ("Symbolene sier det samme som fargene, så tabellen kan leses uten farger.",
                         "The symbols say what the colours say, so the table reads without colour."),
    "legend.illustrative": (("Kolonner merket «Eksempeltall» bygger på tall som ikke er ekte; de får ingen "
                            "sammenligning."),
                            ("Columns marked \u201cIllustrative\u201d rest on figures that are not real; they get "
                            "no comparison.")),
    "city.title": ("Oslo som helhet", "Oslo as a whole"),
    "city.intro": ("Mål som gjelder hele byen.", "Goals set for the whole city."),
    "gap_test.sure": ("Forskjellen er statistisk sikker", "The gap is statistically sure"),
    "gap_test.unsure": ("Forskjellen kan skyldes tilfeldigheter", "The gap may be chance"),
    "gap_test.illustrative": ("Ikke vurdert (eksempeltall)", "Not assessed (illustrative figures)"),
    "gap_test.not_tested": ("Ikke testet", "Not tested"),
    "col.gap_test": ("Beste mot svakeste", "Best against weakest"),
    "gaps.title": ("Forskjeller mellom bydelene", "Gaps between the districts"),
    "gaps.intro": ("Avstanden mellom bydelen som ligger best an og bydelen som ligger svakest an.",
                   "The distance between the best and the weakest placed district."),
    "goals.title": ("Målene", "The goals"),
    "goals.counts": ("Hovedtall: {on_track} i rute, {off_track} ikke i rute, {other} uten vurdering.",
                     "Headline figures: {on_track} on track, {off_track} off track, {other} not assessed."),
    "districts.title": ("Bydelsprofiler", "District profiles"),
    "districts.intro": ("Én side per bydel med alle målene, utviklingen og partnernes fortellinger, også som PDF.",
                        "One page per district with every goal, the trend and the partners' stories, also as PDF."),
    "districts.oslo": ("Oslo (hele byen)", "Oslo (the whole city)"),
    # --- goal pages
    "goal.back": ("Alle mål", "All goals"),
    "scope.each_district": ("Målet gjelder hver bydel.", "The target is for every district."),
    "scope.city": ("Målet gjelder Oslo som helhet.", "The target is for Oslo as a whole."),
    "scope.gap": ("Målet gjelder forskjellen mellom bydelen som ligger best an og den som ligger svakest an.",
                  "The target is for the gap between the best and the weakest placed district."),
    "scope.unknown": ("Målet gjelder et område som ikke er beskrevet.", "The target's area is not described."),
    "target.lower": ("Mål: {value} eller lavere innen {year}, fra utgangspunktet {baseline}.",
                     "Target: {value} or lower by {year}, from the starting point {baseline}."),
    "target.higher": ("Mål: {value} eller høyere innen {year}, fra utgangspunktet {baseline}.",
                      "Target: {value} or higher by {year}, from the starting point {baseline}."),
    "target.own": (("Hvert område har sitt eget mål innen {year}; den grønne linjen i hvert diagram er områdets "
                   "eget mål."),
                   ("Each area has its own target for {year}; the green line in each chart is that area's own "
                   "target.")),
    "target.none": ("Støtteindikator: den vises, men målet vurderes ikke etter den.",
                    "A supporting indicator: shown, but the goal is not judged by it."),
    "target.wrong_way": ("Områder som allerede var bedre enn målet ved start, får ingen mållinje.",
                         "Areas that were already better than the target at the start get no target line."),
    "target_form.absolute": ("samme mål for alle", "the same target for all"),
    "target_form.relative": ("endring fra eget utgangspunkt", "a change from its own starting point"),
    "target_form.gap_closing": ("lukke en del av avstanden", "closing part of the gap"),
    "target_form.gap_closing.oslo": ("lukke en del av avstanden til Oslo", "closing part of the gap to Oslo"),
    "target_form.gap_closing.norway": ("lukke en del av avstanden til landet", "closing part of the gap to Norway"),
    "target_form.gap_closing.best_district": ("lukke en del av avstanden til bydelen som lå best an",
                                              "closing part of the gap to the best placed district"),
    "target_form.override": ("eget mål for området", "a target set for this area"),
    "goal.table": ("Tabell: alle områder", "Table: every area"),
    "goal.gap_table": ("Tabell: forskjellen og bydelene", "Table: the gap and the districts"),
    "goal.gap_chart": ("Forskjell mellom beste og svakeste bydel", "Gap between the best and the weakest district"),
    "goal.district_curves": ("Bydelenes egne kurver", "The districts' own curves"),
    "goal.no_figures": ("Det finnes ingen tall for Oslo eller bydelene for denne indikatoren.",
                        "There are no figures for Oslo or the districts for this indicator."),
    "goal.gap_between": ("Best: {best}. Svakest: {worst}.", "Best: {best}. Weakest: {worst}."),
    # --- charts
    "chart.source": ("Kilde: {source}.", "Source: {source}."),
    "chart.updated": ("Oppdatert hos kilden {date}; siste periode {period}.",
                      "Updated at the source {date}; latest period {period}."),
    "chart.latest_only": ("Siste periode {period}.", "Latest period {period}."),
    "chart.definition": ("Definisjon: {text}", "Definition: {text}"),
    "chart.mark": ("EKSEMPELTALL", "ILLUSTRATIVE"),
    "chart.illustrative": ("Eksempeltall, ikke offisiell statistikk.", "Illustrative figures, not official statistics."),
    "chart.estimate": (("Bydelstallene er anslag: et tall for hele Oslo fordelt på bydelene etter folketallet, "
                        "der det finnes også etter en beslektet andel i hver bydel. Anslag testes aldri."),
                       ("The district figures are estimates: a figure for all of Oslo spread over the districts by "
                        "population, and by a related share in each district where one exists. Estimates are never "
                        "tested.")),
    "chart.legend_title": ("Slik leser du diagrammene:", "How to read the charts:"),
    "chart.legend": (
        ("Blå linje: tallene. Lyseblått felt: 95\u00a0% usikkerhetsintervall. Grå linje: Oslo. Grønn stiplet linje "
        "mot ◆: veien fra utgangspunktet til målet, bare der målet gjelder og peker riktig vei. ×: tallet er "
        "skjult av personvernhensyn eller mangler."),
        ("Blue line: the figures. Light blue band: 95% interval. Grey line: Oslo. Green dashed line to ◆: the path "
        "from the starting point to the target, only where the target applies and points the right way. "
        "×: the figure is hidden for privacy or missing.")),
    "chart.no_figures": ("Ingen tall for: {regions}.", "No figures for: {regions}."),
    "chart.values": ("{region}: {values}.", "{region}: {values}."),
    "chart.missing": ("Uten tall: {periods}.", "Without figures: {periods}."),
    "chart.target": ("Mål {value} innen {year}.", "Target {value} by {year}."),
    "chart.with_oslo": ("Oslo vises til sammenligning.", "Oslo is shown for comparison."),
    "chart.target_label": ("Mål", "Target"),
    "chart.title": ("{indicator}, {region}", "{indicator}, {region}"),
    # --- downloads
    "download.csv": ("Last ned tabellen (CSV)", "Download the table (CSV)"),
    "download.note": ("Semikolon-separert UTF-8 med desimalkomma, åpnes rett i norsk Excel.",
                      "Semicolon-separated UTF-8 with decimal commas, as Norwegian Excel reads it."),
    # --- stories
    "stories.title": ("Historien bak kurven", "The story behind the curve"),
    "story.kind.story": ("Historien bak kurven", "Story behind the curve"),
    "story.kind.strategy": ("Strategi", "Strategy"),
    "story.kind.partner_action": ("Partnertiltak", "Partner action"),
    "story.meta": ("{partner}, {date}. Gjelder {region}, {period}.", "{partner}, {date}. About {region}, {period}."),
    "story.in_norwegian": ("", "Written in Norwegian."),
    # --- district profiles
    "district.title": ("{name}: bydelsprofil", "{name}: district profile"),
    "district.title_oslo": ("Oslo: profil for hele byen", "Oslo: profile of the whole city"),
    "district.intro": (("Alle målene for {name}: siste tall, utviklingen, sammenligningen med Oslo og partnernes "
                       "egne fortellinger."),
                       ("Every goal for {name}: the latest figures, the trend, the comparison with Oslo and the "
                       "partners' own stories.")),
    "district.intro_oslo": ("Alle målene for Oslo som helhet, sammenlignet med landet.",
                            "Every goal for Oslo as a whole, compared with the country."),
    "district.pdf": ("Last ned profilen som PDF (A4)", "Download the profile as PDF (A4)"),
    "district.pdf_missing": ("PDF-utgaven er ikke laget i denne versjonen: {reason}.",
                             "The PDF edition was not made in this version: {reason}."),
    "pdf.no_chromium": ("nettleseren Chromium fantes ikke på maskinen som bygde rapporten",
                        "the Chromium browser was not found on the machine that built the report"),
    "pdf.failed": ("utskriften til PDF feilet", "printing to PDF failed"),
    "district.summary": ("Sammendrag", "Summary"),
    "district.summary_caption": ("Alle indikatorer for {name}", "Every indicator for {name}"),
    "district.city_target": ("Målet gjelder Oslo som helhet; bydelens tall vises til sammenligning.",
                             "The target is for Oslo as a whole; the district's figures are shown for comparison."),
    "district.not_here": ("Finnes ikke på bydelsnivå: {names}.", "Not available for districts: {names}."),
    "district.gaps": ("Hvor bydelen ligger blant de {count} bydelene, for målet om mindre forskjeller (1 = best).",
                      ("Where the district stands among the {count} districts, for the goal of smaller gaps "
                      "(1 = best).")),
    "district.rank": ("{rank} av {count}", "{rank} of {count}"),
    "district.facts": ("Tallene i korte trekk", "The figures in brief"),
    # --- about the figures
    # --- the cost of exclusion (report/costs_page.py)
    "nav.costs": ("Kostnader ved utenforskap", "Cost of exclusion"),
    "costs.title": ("Hva utenforskap koster", "What exclusion costs"),
    "costs.intro": (("Etter modell av Utenforregnskapet (KS og Rambøll): hvor mange unge som står utenfor, ganget med "
                     "et anslag fra en navngitt kilde på hva én person som faller varig utenfor koster samfunnet over "
                     "livet, i {year}-kroner (justert med SSBs konsumprisindeks)."),
                    ("In the manner of Utenforregnskapet (KS and Rambøll): how many young people are outside, times an "
                     "estimate from a named source of what one person who falls outside for good costs society over "
                     "their lifetime, in NOK of {year} (adjusted with SSB's consumer price index).")),
    "costs.how_sure": (("Hvor sikkert: lite. Anslagene gjelder livsløp for dem som blir stående varig utenfor, men "
                        "brukes her på alle som står utenfor et år, og mange kommer tilbake. Tallene er derfor øvre "
                        "grenser og viser størrelsesorden, ikke budsjett. Spennet ved siden av hvert tall er en del "
                        "av tallet."),
                       ("How sure: not very. The estimates are lifetime costs of those who stay outside for good, but "
                        "are applied here to everyone outside in a year, and many return. The figures are upper "
                        "bounds and orders of magnitude, not budgets. The range beside each figure is part of it.")),
    "costs.unit_cost": ("Kostnad per person: {amount} (spenn {low}–{high}), i {year}-kroner.",
                        "Cost per person: {amount} (range {low}–{high}), in NOK of {year}."),
    "costs.latest": ("Siste år per område", "Latest year per area"),
    "costs.goal_value": ("Verdien av å nå målet", "The value of reaching the goal"),
    "costs.goal_value_help": (("Hvor mange færre som står utenfor hvis området når målets andel, ganget med samme "
                               "kostnad per person. Null der målet alt er nådd."),
                              ("How many fewer would be outside if the area reached the goal's share, times the same "
                               "cost per person. Zero where the goal is already met.")),
    "costs.source_title": ("Kilde og forutsetninger", "Source and assumptions"),
    "costs.price_base": (("Kilden oppgir {amount} mill. kr i {base}-kroner; ganget med {factor} (KPI {year} / KPI "
                          "{base}) blir det {year}-kroner."),
                         ("The source gives NOK {amount} million in NOK of {base}; times {factor} (CPI {year} / CPI "
                          "{base}) it is in NOK of {year}.")),
    "costs.range_assumed": ("Spennet er prosjektets forutsetning: {note}.", "The range is the project's assumption: {note}."),
    "costs.range_source": ("Spennet er kildens: {note}.", "The range is the source's: {note}."),
    "costs.certainty_low": ("Sikkerhet: lav (størrelsesorden).", "Certainty: low (order of magnitude)."),
    "costs.certainty_medium": ("Sikkerhet: middels.", "Certainty: medium."),
    "costs.certainty_high": ("Sikkerhet: høy.", "Certainty: high."),
    "costs.cpi": ("Prisjustering", "Price adjustment"),
    "costs.none": ("Ingen kostnader beregnet ennå.", "No costs computed yet."),
    "costs.col_group": ("Gruppe", "Group"),
    "costs.col_measure": ("Mål", "Measure"),
    "costs.col_persons": ("Personer", "People"),
    "costs.col_fewer": ("Færre utenfor ved målet", "Fewer outside at the goal"),
    "costs.col_target_persons": ("Utenfor ved målet", "Outside at the goal"),
    "costs.col_cost": ("Kostnad", "Cost"),
    "costs.col_value": ("Verdi", "Value"),
    "costs.col_range": ("Spenn", "Range"),
    "costs.col_cost_nok": ("Kostnad (kr)", "Cost (NOK)"),
    "costs.col_low_nok": ("Lav (kr)", "Low (NOK)"),
    "costs.col_high_nok": ("Høy (kr)", "High (NOK)"),
    "costs.col_price_year": ("Prisår", "Price year"),
    "costs.col_source": ("Kilde", "Source"),
    "costs.measure_cost_of_exclusion": ("kostnad ved utenforskap", "cost of exclusion"),
    "costs.measure_value_of_reaching_goal": ("verdien av å nå målet", "value of reaching the goal"),
    "about.title": ("Om tallene", "About the figures"),
    "about.intro": ("Hvor tallene kommer fra, om de er ekte, og hvordan rapporten vurderer dem.",
                    "Where the figures come from, whether they are real, and how the report reads them."),
    "about.indicators": ("Indikatorene: kilde og opphav", "The indicators: source and origin"),
    "about.indicators_caption": ("Hver indikator med kilde, perioder, oppdatering og om tallene er ekte",
                                 "Every indicator with its source, periods, update and whether the figures are real"),
    "about.statuses": ("Status mot målet", "Status against the target"),
    "about.significance_title": ("Når kaller rapporten noe sikkert?", "When does the report call something sure?"),
    "about.significance": (
        ("En forskjell fra Oslo eller Norge, eller en utvikling over tid, kalles statistisk sikker bare når en test "
        "viser at den neppe skyldes tilfeldigheter (under 5\u00a0% sannsynlighet, justert for at mange ting testes "
        "samtidig der tallgrunnlaget har slik justering). Eksempeltall blir aldri kalt sikre."),
        ("A difference from Oslo or Norway, or a trend over time, is called statistically sure only when a test "
        "shows it is unlikely to be chance (below 5% probability, adjusted for testing many things at once where "
        "the figures carry that adjustment). Illustrative figures are never called sure.")),
    "about.privacy_title": ("Skjulte tall", "Hidden figures"),
    "about.privacy": (("Tall for svært små grupper skjules, slik at ingen enkeltperson kan kjennes igjen. De vises "
                      "som × i diagrammene og som en forklaring i tabellene."),
                      ("Figures for very small groups are hidden so that no one can be recognised. Charts show them "
                      "as × and tables explain them.")),
    "about.survey_source": ("Läget Oslo, initiativets egen spørreundersøkelse", "Läget Oslo, the initiative's own survey"),
}


class Texts:
    """The report's words in one language: `texts("status.on_track")`, with placeholders as keywords."""

    def __init__(self, lang: str):
        if lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}; the report speaks {', '.join(LANGUAGES)}")
        self.lang = lang
        self._index = LANGUAGES.index(lang)

    def __call__(self, key: str, **values: Any) -> str:
        try:
            text = TEXTS[key][self._index]
        except KeyError:
            raise KeyError(f"the report has no text {key!r}") from None
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in TEXTS

    @property
    def other_lang(self) -> str:
        return LANGUAGES[1 - self._index]
