from losses.bona_fide_pair import bona_fide_pair_loss
from losses.eoc_softmax import EOCSoftmax, class_weights_from_ratios
from losses.ebm_objective import EBMObjective

__all__ = ['EOCSoftmax', 'class_weights_from_ratios', 'bona_fide_pair_loss', 'EBMObjective']
